"""The local data plane: a reconciler from the control plane's AWS APIs to Linux namespaces.

``plan(topology, env_id)`` turns a :class:`~harness.dataplane.topology.Topology` into the
desired state (router namespaces with bridges, one namespace per instance / NLB node / endpoint ENI,
nftables rulesets, DNS records, HAProxy listeners, JERP processes); ``plan_changes`` diffs it
against what was applied; :class:`DataPlane` applies the difference and nothing else, so
running it again with nothing changed changes nothing.

The daemon (``python -m harness.dataplane serve``) polls the control plane every
``POLL_INTERVAL_S`` seconds, reconciles, reports target health back to the control plane and
writes ``<state dir>/dataplane.json`` (namespaces per host, pids, health), which
``hostexec`` and ``status`` read. ``start_dataplane`` / ``stop_dataplane`` manage the daemon.

Every name carries an environment id (``jp`` + 4 hex), so a second environment never collides
with what a crashed first one left; start-up removes leftovers of a dead environment.

Reloads: HAProxy is reloaded (master-worker, SIGUSR2) on configuration changes, so flows
unrelated to the change continue; it is restarted only when a namespace it binds in was
re-created. dnsmasq re-reads its hosts file on SIGHUP.

Modules: ``topology`` (the model) and ``inventory`` (reads it from the AWS APIs);
``planner``, ``diff`` and ``health`` (pure: no root); ``reconciler`` (applies a plan with
``netns``, ``haproxy``, ``dnsmasq``, ``firewall`` and ``hosts``); ``state`` (the state file);
``daemon`` (the long-running process); ``hostexec`` (a command on an emulated host).
"""
