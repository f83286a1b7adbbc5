"""Go shapes of the swarm request bodies (moby's api/types/swarm), for engine.gojson."""

from __future__ import annotations

from typing import Any

__all__ = ["INIT_REQUEST", "JOIN_REQUEST", "NODE_SPEC", "SERVICE_SPEC", "SPEC"]

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
_DURATION = "time.Duration"
_POLICY = ("swarm.UpdateConfig", {
    "Parallelism": "uint64", "Delay": _DURATION, "FailureAction": "string",
    "Monitor": _DURATION, "MaxFailureRatio": "float32", "Order": "string",
})  # fmt: skip
CONTAINER_SPEC = ("swarm.ContainerSpec", {
    "Image": "string", "Labels": _STR_MAP, "Command": "[]string", "Args": "[]string",
    "Hostname": "string", "Env": "[]string", "Dir": "string", "User": "string",
    "Groups": "[]string", "TTY": "bool", "OpenStdin": "bool", "ReadOnly": "bool",
    "StopSignal": "string", "StopGracePeriod": _DURATION, "Hosts": "[]string",
    "Isolation": "string", "Init": "bool", "Sysctls": _STR_MAP,
    "CapabilityAdd": "[]string", "CapabilityDrop": "[]string",
})  # fmt: skip
SERVICE_SPEC: tuple[str, dict[str, Any]] = ("swarm.ServiceSpec", {
    "Name": "string", "Labels": _STR_MAP,
    "TaskTemplate": ("swarm.TaskSpec", {
        "ContainerSpec": CONTAINER_SPEC,
        "Resources": ("swarm.ResourceRequirements", {
            "Limits": ("swarm.Limit", {
                "NanoCPUs": "int64", "MemoryBytes": "int64", "Pids": "int64"}),
            "Reservations": ("swarm.Resources", {"NanoCPUs": "int64", "MemoryBytes": "int64"}),
        }),
        "RestartPolicy": ("swarm.RestartPolicy", {
            "Condition": "string", "Delay": _DURATION, "MaxAttempts": "uint64", "Window": _DURATION,
        }),
        "Placement": ("swarm.Placement", {"Constraints": "[]string", "MaxReplicas": "uint64"}),
        "ForceUpdate": "uint64", "Runtime": "string",
    }),
    "Mode": ("swarm.ServiceMode", {
        "Replicated": ("swarm.ReplicatedService", {"Replicas": "uint64"}),
        "ReplicatedJob": ("swarm.ReplicatedJob", {
            "MaxConcurrent": "uint64", "TotalCompletions": "uint64"}),
    }),
    "UpdateConfig": _POLICY,
    "RollbackConfig": _POLICY,
    "EndpointSpec": ("swarm.EndpointSpec", {
        "Mode": "string",
        "Ports": ("[]swarm.PortConfig", ("swarm.PortConfig", {
            "Name": "string", "Protocol": "string", "TargetPort": "uint32",
            "PublishedPort": "uint32", "PublishMode": "string",
        })),
    }),
})  # fmt: skip
