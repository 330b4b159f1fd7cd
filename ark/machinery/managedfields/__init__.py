"""Field ownership for server-side apply: managedFields, as kube-apiserver keeps them.

The model, in short. Every object field has a *path* (``.spec.target.name``,
``.metadata.labels.app``, ``.metadata.finalizers[="x"]``, ``.metadata.ownerReferences[uid="1"]``).
A *field set* is a set of paths; ``metadata.managedFields`` lists, per *manager* (a name, the
operation ``Apply`` or ``Update``, the subresource and, for updates, the API version), the set
that manager owns, written as ``fieldsV1``.

* An **apply** states the whole intent of one manager: the object becomes the live object with
  the configuration merged in (objects by key, lists by their list type), the manager owns
  exactly the fields of its configuration, and a field it applied before and has now left out
  is removed unless another manager owns it. Setting a field that another manager owns to a
  different value is a **conflict** (409) unless the apply is forced, which takes the field
  over; setting it to the same value shares it. Applying the same configuration again
  changes nothing.
* An **update** (create, PUT, merge or JSON patch, status writes) records what the write
  changed: those fields join the writer's entry and leave every other entry.

What a kind's fields look like to this (which lists are sets or maps, which objects are
atomic) is its *structure* (:mod:`.structure`), derived from the kind's schemas. The paths and
sets live in :mod:`.fieldpath`, the walks over values in :mod:`.typed`, the entries and the
apply and update rules in :mod:`.manager`.
"""
from ark.machinery.managedfields.fieldpath import (
    FieldSet,
    FieldsV1Error,
    Index,
    Key,
    Path,
    PathElement,
    SetValue,
    from_fields_v1,
    path_string,
    to_fields_v1,
)
from ark.machinery.managedfields.manager import (
    LAST_APPLIED,
    ApplyConflict,
    ApplyResult,
    ManagedFieldsError,
    ManagerKey,
    apply,
    manager_from_user_agent,
    manager_name,
    update,
)
from ark.machinery.managedfields.structure import object_structure
from ark.machinery.managedfields.typed import compare, merge, to_field_set

__all__ = [
    "LAST_APPLIED",
    "ApplyConflict",
    "ApplyResult",
    "FieldSet",
    "FieldsV1Error",
    "Index",
    "Key",
    "ManagedFieldsError",
    "ManagerKey",
    "Path",
    "PathElement",
    "SetValue",
    "apply",
    "compare",
    "from_fields_v1",
    "manager_from_user_agent",
    "manager_name",
    "merge",
    "object_structure",
    "path_string",
    "to_field_set",
    "to_fields_v1",
    "update",
]
