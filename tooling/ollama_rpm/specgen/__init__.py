"""The spec: packaging.yaml, what the template is given, the render, and rpm's reading of the result."""
