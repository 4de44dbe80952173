"""stagewise: which training stage gives a language model its safety behaviour?

One namespace. The parts live in the repository's root folders and import as `stagewise.<part>`
(pyproject's package-dir mapping): `stagewise.cluster` (where it runs), `stagewise.train`, `stagewise.serve`,
`stagewise.evaluate`, `stagewise.analysis` (the stages), `stagewise.core` (what they all share). The study layer,
the only code that knows a whole study and composes the stages, is this package's own modules: `config`,
`cli`, `run`, `plan` and the study commands.
"""
from pathlib import Path as _Path

# A source checkout that is not installed (a Ray job's uploaded working dir runs one): the parts are the
# root folders beside this one. An installed wheel has them inside this package and no pyproject.toml above.
_root = _Path(__file__).resolve().parent.parent
if (_root / "pyproject.toml").is_file() and (_root / "train").is_dir():
    __path__.append(str(_root))  # type: ignore[name-defined]
