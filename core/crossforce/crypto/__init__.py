"""Keys and signatures: the deployment PKI, organisation keys, the network secret, signed envelopes and
sealed disclosures.

Pure: values and bytes only, no file I/O (tests/unit/test_architecture.py follows the imports), so the
rules can be checked without a disk. Reading and writing key material is ``crossforce.keystore``.
"""
