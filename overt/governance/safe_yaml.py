"""YAML from strangers, within limits: an application file is small and shallow, so anything deeper,
bigger or full of aliases is refused in one line before it is built (PyYAML builds nested nodes
recursively: a few thousand `[` ran it into a RecursionError, and aliases can multiply a small file)."""

from __future__ import annotations

from typing import Any

import yaml

MAX_BYTES = 256 * 1024
MAX_DEPTH = 20
MAX_NODES = 20_000


class YamlLimitError(yaml.YAMLError):
    """The document is over a limit; the message is one line naming it."""


def safe_load(text: str, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES) -> Any:
    """`yaml.safe_load`, after an event scan (iterative, so depth cannot exhaust the stack) checks the limits."""
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise YamlLimitError(f"the file is over {max_bytes // 1024} KiB")
    depth = nodes = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.AliasEvent):
            raise YamlLimitError("anchors and aliases (*name) are not allowed")
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > max_depth:
                raise YamlLimitError(f"nested deeper than {max_depth} levels")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
        if isinstance(event, yaml.NodeEvent):
            nodes += 1
            if nodes > max_nodes:
                raise YamlLimitError(f"more than {max_nodes} values")
    return yaml.safe_load(text)
