"""cgroup drivers for the runtime: v1, v2 and the hybrid layout.

Contract (what the rest of the runtime relies on):

    cg = for_container(spec_cgroups_path, container_id)   # picks the driver for this host
    cg.create()              # make the directories (idempotent)
    cg.add_proc(pid)         # move a process in (every hierarchy)
    cg.set(resources)        # apply linux.resources (the raw spec dict); errors name the field
    cg.freeze(); cg.thaw(); cg.frozen()
    cg.pids()                # every pid in the container's cgroup
    cg.destroy()             # remove the directories (processes must be gone); idempotent
    cg.paths                 # {key: absolute dir}; JSON-serialisable, stored in state.json
    from_paths(paths)        # rebuild the same object from state.json (for delete after a crash)
    cg.hierarchies()         # what to mount at /sys/fs/cgroup inside the container

The driver never kills processes on its own: the runtime does that and then calls destroy().
"""
