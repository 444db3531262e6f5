"""The ``crossforce`` command line: a leaf that nothing else imports."""
