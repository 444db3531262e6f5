"""The test kit shipped with the code: a force simulator, a whole local deployment and the demo."""
