"""The auditors' HTTP side: a JSON API (OpenAPI-described) and server-rendered pages, one app.

:func:`pensionx.web.api.make_app` builds it around an engine; nothing here connects or reads
the environment at import. Tokens (:mod:`pensionx.web.tokens`) decide who is asking, roles
(:mod:`pensionx.web.auth`) what they may see, and the case workflow itself
(:mod:`pensionx.core.cases`) what may be done to a case.
"""
