"""The twelve Ark kinds this server serves, and the registry that finds them."""
from ark.kinds import (
    a2aserver,
    a2atask,
    agent,
    evaluation,
    evaluator,
    executionengine,
    mcpserver,
    memory,
    model,
    query,
    team,
    tool,
)
from ark.kinds.registry import GROUP, Kind, PrinterColumn, Registry

REGISTRY = Registry(
    [
        m.KIND
        for m in (
            a2aserver, a2atask, agent, evaluation, evaluator, executionengine,
            mcpserver, memory, model, query, team, tool,
        )
    ]
)

__all__ = ["GROUP", "REGISTRY", "Kind", "PrinterColumn", "Registry"]
