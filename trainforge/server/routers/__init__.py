"""REST routers, one resource family each, all under /api/v1."""
