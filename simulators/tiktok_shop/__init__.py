"""TikTok Shop Open API (202309+) simulator: a Starlette app faithful to the platform reference.

    app = create_app(seed=1)
    with LoopbackServer(app) as server: ...   # or starlette.testclient.TestClient(app)

`app.state.sim` is the in-memory state, `app.state.faults` the fault knobs; `/_admin/*` drives
the buyer and platform side (see admin.py).
"""

from .app import DEFAULT_CREDENTIALS, create_app

__all__ = ["DEFAULT_CREDENTIALS", "create_app"]
