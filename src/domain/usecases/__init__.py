"""The service layer: each use case loads through ports, asks the rules, writes back."""
