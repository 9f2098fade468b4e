"""LocalStack plug-in of the JERP PrivateLink kit.

Loaded by LocalStack itself through entry points (see ``pyproject.toml``):

- ``elbv2:default`` serves ELBv2 from LocalStack's moto backend, with network load balancers
  shaped as AWS makes them (``net/`` ARNs, ``<name>-<16 hex>.elb.<region>.amazonaws.com``,
  ``active`` at once, one node ENI per subnet described ``ELB net/<name>/<id>``).
- ``ec2:jerp`` (selected with ``PROVIDER_OVERRIDE_EC2=jerp``) is LocalStack's EC2 provider plus
  the PrivateLink control plane: ``vpce-svc-<17 hex>`` services, endpoints that wait in
  ``pendingAcceptance``, ``Describe/Accept/RejectVpcEndpointConnections``, kept principals,
  AWS-shaped endpoint DNS names, ENI addresses inside their subnet, and a service that cannot
  be deleted while it has live endpoints.
- an ``on_infra_start`` hook adds ``POST /_jerp/target-health`` (see :mod:`.health`).
- ``GET /_jerp/changes``, a long-polled generation counter of EC2/ELBv2 changes (see
  :mod:`.changes`).
"""

from jerp_localstack.changes import install as _install_change_notice

# The change notice has no entry point of its own: LocalStack imports this package (for the
# providers or the hook above) before it serves any request, which is early enough.
_install_change_notice()
