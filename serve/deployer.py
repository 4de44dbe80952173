"""The Ray actor that builds and deploys the Serve app, so the driver never imports vLLM.

Building the app needs Ray Serve LLM and vLLM imported (`LLMConfig`, the OpenAI protocol models, the engine
class): ~17 s of one core and ~750 MB. In the driver that sat on the critical path between training and
serving, with the other core idle. `stagewise run` starts the deployer with the cluster instead, so it imports
while the driver prepares training data on one core and the workers have not started yet; `start_app` then
only sends it the models. Started on demand (`stagewise serve`, tests) it costs what the driver's import did.

    deployer = start_deployer()          # returns at once; the actor imports in the background
    host, port = deploy(deployer, models, cfg, api_key)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stagewise.core.errors import StagewiseError

if TYPE_CHECKING:
    from ray.actor import ActorHandle

    from stagewise.serve.config import ServeConfig


class AppDeployer:
    """Holds the serving stack imported; `deploy` builds the app for some models and `serve.run`s it."""

    def __init__(self) -> None:
        import ray.serve.llm  # noqa: F401  (what build_app needs, imported once, here)

        from stagewise.serve import internals  # decides (and says) whether the patches apply

        # Off the engines' path: each replica waits on this actor once its engine has started (~5 s a model).
        internals.start_telemetry_agent()

    def deploy(self, models: dict[str, str], cfg: "ServeConfig", api_key: str | None,
               route_prefix: str) -> tuple[str, int] | str:
        """(host, port) of Serve's proxy once the app is submitted (not yet running), or the error's message:
        a StagewiseError raised here would reach the driver wrapped in Ray's traceback, not as one line."""
        from ray import serve

        from stagewise.serve.app import build_app, start_serve

        _quiet_builder_logs()
        try:
            app = build_app(models, cfg, api_key)
        except StagewiseError as e:
            return str(e)
        host, port = start_serve(cfg)
        # `serve.run` would wait for RUNNING with no timeout and a generic error; the driver's `wait_ready`
        # names the model that fails.
        serve.run_many(
            [serve.RunTarget(target=app, name=cfg.app_name, route_prefix=route_prefix)],
            wait_for_ingress_deployment_creation=False,
            wait_for_applications_running=False,
        )
        return host, port


def _quiet_builder_logs() -> None:
    """Ray Serve LLM's builders log each deployment's full options at INFO, ~25 lines per model, from this actor,
    whose output Ray forwards to the console; the built app is in `serve status` / `serve config`. Warnings and
    errors still show. Only this actor's loggers: it deploys one app and is stopped."""
    import logging

    names = [n for n in logging.root.manager.loggerDict if n.startswith("ray.serve.")]
    for name in ["ray.serve", *names]:
        logging.getLogger(name).setLevel(logging.WARNING)


def start_deployer() -> "ActorHandle":
    """Start the deployer actor (needs `ray.init`); it takes no CPU slot, so training is not held up by it."""
    import ray

    return ray.remote(num_cpus=0, max_restarts=0)(AppDeployer).remote()


def deploy(deployer: "ActorHandle", models: dict[str, str], cfg: "ServeConfig", api_key: str | None,
           route_prefix: str = "/") -> tuple[str, int]:
    import ray

    where: Any = ray.get(deployer.deploy.remote(models, cfg, api_key, route_prefix))
    if isinstance(where, str):
        raise StagewiseError(where)
    return where
