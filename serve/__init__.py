"""Serving: every checkpoint of a study (and the judges) behind one Ray Serve LLM app, vLLM engines, OpenAI API.

    with served_app({"sft": "runs/demo/models/sft"}, ServeConfig()) as app:      # stagewise.serve.app
        ServeClient(app.base_url, app.api_key).chat_many_sync("sft", conversations, {"max_tokens": 64})

It takes its own `serving:` section and a model id -> weights mapping, never the study (`stagewise.run.serving`
is the study's adapter). `app.py` builds and runs the app (`start_app`, `served_app`, `existing_app`), `client.py`
is what other parts use to talk to it (`ServeClient`, `ServedApp`: the only part of serve that evaluate
imports), `placement.py` says GPU or CPU per model (the plan asks it too), `deployer.py` deploys from an actor so
the driver never imports vLLM, and `internals.py` holds every use of Ray Serve LLM's and vLLM's private
internals, applied only on the versions it was written for.
"""
