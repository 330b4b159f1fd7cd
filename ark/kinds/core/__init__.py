"""The core v1 kinds standalone mode serves in place of a cluster (``--auth-mode off`` only):
Namespaces, Events, Secrets and ConfigMaps, each a kind descriptor and a strategy like the Ark
kinds, stored and served by the same machinery. In delegated mode kube-apiserver owns them and
none of this is served.
"""
from ark.kinds.core import configmap, event, namespace, secret
from ark.kinds.registry import Registry

CORE = Registry([m.KIND for m in (configmap, event, namespace, secret)])

__all__ = ["CORE"]
