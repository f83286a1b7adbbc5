"""The cluster: swarm mode on etcd (docs/cluster.md).

`pki` makes the CA, node certificates and join tokens; `kv` is the typed etcd layer;
`etcdmember` runs a manager's local etcd member; `objects` keeps versioned, named objects.
"""

from wharfie.cluster.kv import KV, Compare, Delete, Entry, EtcdKV, Put, StoreUnavailable, TLSFiles

__all__ = ["KV", "Compare", "Delete", "Entry", "EtcdKV", "Put", "StoreUnavailable", "TLSFiles"]
