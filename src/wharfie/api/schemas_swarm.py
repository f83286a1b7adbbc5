"""Go shapes of the swarm request bodies (moby's api/types/swarm), for engine.gojson."""

from __future__ import annotations

from typing import Any

__all__ = ["INIT_REQUEST", "JOIN_REQUEST", "NODE_SPEC", "SPEC"]

_STR_MAP = "map[string]string"
SPEC: tuple[str, dict[str, Any]] = ("swarm.Spec", {
    "Name": "string", "Labels": _STR_MAP,
    "Orchestration": ("swarm.OrchestrationConfig", {"TaskHistoryRetentionLimit": "int64"}),
    "Raft": ("swarm.RaftConfig", {
        "SnapshotInterval": "uint64", "KeepOldSnapshots": "uint64",
        "LogEntriesForSlowFollowers": "uint64", "ElectionTick": "int", "HeartbeatTick": "int",
    }),
    "Dispatcher": ("swarm.DispatcherConfig", {"HeartbeatPeriod": "time.Duration"}),
    "CAConfig": ("swarm.CAConfig", {
        "NodeCertExpiry": "time.Duration", "SigningCACert": "string", "SigningCAKey": "string",
        "ForceRotate": "uint64",
    }),
    "EncryptionConfig": ("swarm.EncryptionConfig", {"AutoLockManagers": "bool"}),
})  # fmt: skip
INIT_REQUEST: tuple[str, dict[str, Any]] = ("swarm.InitRequest", {
    "ListenAddr": "string", "AdvertiseAddr": "string", "DataPathAddr": "string",
    "DataPathPort": "uint32", "ForceNewCluster": "bool", "Spec": SPEC,
    "AutoLockManagers": "bool", "Availability": "string", "DefaultAddrPool": "[]string",
    "SubnetSize": "uint32",
})  # fmt: skip
JOIN_REQUEST: tuple[str, dict[str, Any]] = ("swarm.JoinRequest", {
    "ListenAddr": "string", "AdvertiseAddr": "string", "DataPathAddr": "string",
    "RemoteAddrs": "[]string", "JoinToken": "string", "Availability": "string",
})  # fmt: skip
NODE_SPEC: tuple[str, dict[str, Any]] = ("swarm.NodeSpec", {
    "Name": "string", "Labels": _STR_MAP, "Role": "string", "Availability": "string",
})  # fmt: skip
