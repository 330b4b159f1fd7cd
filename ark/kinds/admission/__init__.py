"""Ark's own admission rules: the helpers several kinds share.

kube-apiserver never calls admission webhooks for aggregated resources, so what Ark's webhooks
enforce on its CRDs runs here, in each kind's strategy (``ark/kinds/<kind>.py``). The pieces
several kinds use live in this package, one concern per module:

* :mod:`.metadata` — the skip-validation label and the migration-warning annotations;
* :mod:`.references` — references to other Ark objects and to Secrets, ConfigMaps and
  Services, and resolving a value source to its string;
* :mod:`.values` — parameters, headers and overrides;
* :mod:`.durations` — Go duration strings (``1m30s``);
* :mod:`.urls` — whether a Model's base URL is safe to call (no loopback, link-local,
  metadata or private targets).

docs/admission.md lists what the server enforces per kind and the decisions behind it.
"""
