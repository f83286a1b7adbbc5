"""The Go shapes of the container create body (moby 25's structs: field names and Go types),
for engine.gojson: canonical field names and Go's type errors. Pure data."""

from __future__ import annotations

from typing import Any

from wharfie.engine.gojson import STR_SLICE

WRAPPER = "ContainerConfigWrapper"

HEALTH = ("container.HealthConfig", {
    "Test": "[]string", "Interval": "time.Duration", "Timeout": "time.Duration",
    "StartPeriod": "time.Duration", "StartInterval": "time.Duration", "Retries": "int",
})  # fmt: skip
CONFIG_FIELDS: dict[str, Any] = {
    "Hostname": "string", "Domainname": "string", "User": "string", "AttachStdin": "bool",
    "AttachStdout": "bool", "AttachStderr": "bool", "ExposedPorts": "nat.PortSet", "Tty": "bool",
    "OpenStdin": "bool", "StdinOnce": "bool", "Env": "[]string", "Cmd": STR_SLICE,
    "Healthcheck": HEALTH, "ArgsEscaped": "bool", "Image": "string",
    "Volumes": "map[string]struct {}", "WorkingDir": "string", "Entrypoint": STR_SLICE,
    "NetworkDisabled": "bool", "MacAddress": "string", "OnBuild": "[]string",
    "Labels": "map[string]string", "StopSignal": "string", "StopTimeout": "int",
    "Shell": STR_SLICE,
}  # fmt: skip
ULIMIT = ("units.Ulimit", {"Name": "string", "Hard": "int64", "Soft": "int64"})
MOUNT = ("mount.Mount", {
    "Type": "string", "Source": "string", "Target": "string", "ReadOnly": "bool",
    "Consistency": "string",
    "BindOptions": ("mount.BindOptions", {
        "Propagation": "string", "NonRecursive": "bool", "CreateMountpoint": "bool",
    }),
    "VolumeOptions": ("mount.VolumeOptions", {
        "NoCopy": "bool", "Labels": "map[string]string",
        "DriverConfig": ("mount.Driver", {"Name": "string", "Options": "map[string]string"}),
    }),
    "TmpfsOptions": ("mount.TmpfsOptions", {"SizeBytes": "int64", "Mode": "uint32"}),
})  # fmt: skip
DEVICE_MAPPING = ("container.DeviceMapping", {
    "PathOnHost": "string", "PathInContainer": "string", "CgroupPermissions": "string",
})  # fmt: skip
DEVICE_REQUEST = ("container.DeviceRequest", {
    "Driver": "string", "Count": "int", "DeviceIDs": "[]string",
    "Capabilities": "[][]string", "Options": "map[string]string",
})  # fmt: skip
WEIGHT_DEVICE = ("blkiodev.WeightDevice", {"Path": "string", "Weight": "uint16"})
THROTTLE_DEVICE = ("blkiodev.ThrottleDevice", {"Path": "string", "Rate": "uint64"})
ENDPOINT_SETTINGS = ("network.EndpointSettings", {
    "IPAMConfig": ("network.EndpointIPAMConfig", {
        "IPv4Address": "string", "IPv6Address": "string", "LinkLocalIPs": "[]string",
    }),
    "Links": "[]string", "Aliases": "[]string", "MacAddress": "string",
    "DriverOpts": "map[string]string", "NetworkID": "string", "EndpointID": "string",
    "Gateway": "string", "IPAddress": "string", "IPPrefixLen": "int", "IPv6Gateway": "string",
    "GlobalIPv6Address": "string", "GlobalIPv6PrefixLen": "int",
})  # fmt: skip
HOST_FIELDS: dict[str, Any] = {
    "Binds": "[]string", "ContainerIDFile": "string",
    "LogConfig": ("container.LogConfig", {"Type": "string", "Config": "map[string]string"}),
    "NetworkMode": "container.NetworkMode", "PortBindings": "nat.PortMap",
    "RestartPolicy": ("container.RestartPolicy", {
        "Name": "container.RestartPolicyMode", "MaximumRetryCount": "int"}),
    "AutoRemove": "bool", "VolumeDriver": "string", "VolumesFrom": "[]string",
    "ConsoleSize": "[2]uint", "Annotations": "map[string]string", "CapAdd": STR_SLICE,
    "CapDrop": STR_SLICE, "CgroupnsMode": "container.CgroupnsMode", "Dns": "[]string",
    "DnsOptions": "[]string", "DnsSearch": "[]string", "ExtraHosts": "[]string",
    "GroupAdd": "[]string", "IpcMode": "container.IpcMode", "Cgroup": "container.CgroupSpec",
    "Links": "[]string", "OomScoreAdj": "int", "PidMode": "container.PidMode",
    "Privileged": "bool", "PublishAllPorts": "bool", "ReadonlyRootfs": "bool",
    "SecurityOpt": "[]string", "StorageOpt": "map[string]string",
    "Tmpfs": "map[string]string", "UTSMode": "container.UTSMode",
    "UsernsMode": "container.UsernsMode", "ShmSize": "int64", "Sysctls": "map[string]string",
    "Runtime": "string", "Isolation": "container.Isolation", "CpuShares": "int64",
    "Memory": "int64", "NanoCpus": "int64", "CgroupParent": "string", "BlkioWeight": "uint16",
    "BlkioWeightDevice": ("[]*blkiodev.WeightDevice", WEIGHT_DEVICE),
    "BlkioDeviceReadBps": ("[]*blkiodev.ThrottleDevice", THROTTLE_DEVICE),
    "BlkioDeviceWriteBps": ("[]*blkiodev.ThrottleDevice", THROTTLE_DEVICE),
    "BlkioDeviceReadIOps": ("[]*blkiodev.ThrottleDevice", THROTTLE_DEVICE),
    "BlkioDeviceWriteIOps": ("[]*blkiodev.ThrottleDevice", THROTTLE_DEVICE), "CpuPeriod": "int64",
    "CpuQuota": "int64", "CpuRealtimePeriod": "int64", "CpuRealtimeRuntime": "int64",
    "CpusetCpus": "string", "CpusetMems": "string",
    "Devices": ("[]container.DeviceMapping", DEVICE_MAPPING), "DeviceCgroupRules": "[]string",
    "DeviceRequests": ("[]container.DeviceRequest", DEVICE_REQUEST),
    "KernelMemory": "int64", "KernelMemoryTCP": "int64", "MemoryReservation": "int64",
    "MemorySwap": "int64", "MemorySwappiness": "int64", "OomKillDisable": "bool",
    "PidsLimit": "int64", "Ulimits": ("[]*units.Ulimit", ULIMIT), "CpuCount": "int64",
    "CpuPercent": "int64", "IOMaximumIOps": "uint64", "IOMaximumBandwidth": "uint64",
    "Mounts": ("[]mount.Mount", MOUNT), "MaskedPaths": "[]string", "ReadonlyPaths": "[]string",
    "Init": "bool",
}  # fmt: skip
NETWORKING_FIELDS: dict[str, Any] = {
    "EndpointsConfig": ("map[string]*network.EndpointSettings", ENDPOINT_SETTINGS),
}
WRAPPER_FIELDS: dict[str, Any] = {
    **CONFIG_FIELDS,
    "HostConfig": ("container.HostConfig", HOST_FIELDS),
    "NetworkingConfig": ("network.NetworkingConfig", NETWORKING_FIELDS),
}
RESOURCE_FIELDS = frozenset({
    "CpuShares", "Memory", "NanoCpus", "CgroupParent", "BlkioWeight", "BlkioWeightDevice",
    "BlkioDeviceReadBps", "BlkioDeviceWriteBps", "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps",
    "CpuPeriod", "CpuQuota", "CpuRealtimePeriod", "CpuRealtimeRuntime", "CpusetCpus",
    "CpusetMems", "Devices", "DeviceCgroupRules", "DeviceRequests", "KernelMemory",
    "KernelMemoryTCP", "MemoryReservation", "MemorySwap", "MemorySwappiness", "OomKillDisable",
    "PidsLimit", "Ulimits", "CpuCount", "CpuPercent", "IOMaximumIOps", "IOMaximumBandwidth",
})  # fmt: skip
CREATE_SCHEMA = ("runconfig." + WRAPPER, WRAPPER_FIELDS)
