"""Web concerns that are not pages: sign-in, security headers, the request context,
request checks and download routes. Wired into the app by :func:`app.create_app`.
"""
