"""Extra keys a scenario sets on the sections pipeline-tests renders for a real router:
`router.output` (the Forward output to the next tier: the sink or the aggregator) and
`router.forward_input` (the Forward inputs it listens on); the same under `aggregator:`.

They are added after pipeline-tests' own keys of that section, so a key pipeline-tests has no
knob for (Fluent Bit's `Retain_metadata_in_forward_mode`, Fluentd's `send_timeout` or a
`<buffer>` `chunk_limit_size`) is set where the router reads it. The keys pipeline-tests sets
itself are refused before the run, naming the scenario's knob for them: a second value for one
would change what the scenario asked without a word.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline_tests._errors import InputError
from pipeline_tests._scenario.model import Aggregator, Keys, Router

NEXT_TIER = "pipeline-tests points it at the next tier (the sink or the aggregator)"
ITS_INPUT = "pipeline-tests sets where it listens (the socket and port the app or sidecar uses)"
ITS_ID = "pipeline-tests counts the plugin by it"


def section_of(router: Router) -> str:
    """The scenario section the settings come from."""
    return "aggregator" if isinstance(router, Aggregator) else "router"


def check(router: Router, owned_output: Mapping[str, str], owned_input: Mapping[str, str],
          subsections: bool) -> None:
    """InputError for a key pipeline-tests sets itself (`owned_*`: lower-case key, or
    `subsection.key`, -> why), or a subsection where the router has none (Fluent Bit)."""
    for name, keys, owned in (("output", router.output, owned_output),
                              ("forward_input", router.forward_input, owned_input)):
        section = section_of(router)
        _check(f"{section}.{name}", router.kind, keys,
               {key: why.format(section=section) for key, why in owned.items()}, subsections)


def refuse_any(router: Router) -> None:
    """For a router whose config pipeline-tests does not render (the builtin router)."""
    for name in ("output", "forward_input"):
        if getattr(router, name):
            where = f"{section_of(router)}.{name}"
            raise InputError(f"'{where}' sets keys of the config pipeline-tests renders for a "
                             f"real router (fluent-bit, fluentd); the {router.kind} router "
                             f"has no such config. Drop '{where}', or set '{section_of(router)}"
                             ".kind' to fluent-bit or fluentd.")


def _check(where: str, kind: str, keys: Keys, owned: Mapping[str, str],
           subsections: bool) -> None:
    for key, value in keys:
        if isinstance(value, str):
            _not_owned(where, kind, key, owned)
            continue
        if not subsections:
            raise InputError(f"'{where}.{key}' is a mapping; {kind} sections hold keys and "
                             "values only. Give the key a value, e.g. "
                             f"'{where}: {{Retain_metadata_in_forward_mode: false}}'.")
        for sub, _ in value:
            _not_owned(where, kind, f"{key}.{sub}", owned)


def _not_owned(where: str, kind: str, key: str, owned: Mapping[str, str]) -> None:
    why = owned.get(key.lower())
    if why is not None:
        raise InputError(f"'{where}' sets '{key}', which pipeline-tests renders itself for "
                         f"{kind}: {why}. Drop it from '{where}'.")
