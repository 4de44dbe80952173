"""Where a study runs: the floor every stage stands on, knowing none of them.

    with ray_cluster(study.cluster):          # join RAY_ADDRESS / a Ray job's cluster, or start an embedded one
        ...

`local.py` (the cluster), `env.py` (CPU process switches, Ray worker environments), `config.py` (the `cluster:`
section), `architectures.py` (model shapes for sizing), `manifests.py` (checks of the shipped KubeRay and
launcher files). It imports only `stagewise.core`; the resource planner that knows every stage is the study
layer's (`stagewise.plan`).
"""
