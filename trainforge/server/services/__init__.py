"""Services: the control plane's logic, one resource each, on top of the store."""
