#!/usr/bin/env python3
"""berth's moto launcher: starts moto's server with the settings berth's emulator mode needs.

Used by `cargo xtask --local` (a long-lived background server) and by the test harness (one
server per test binary, ended when the harness's end of stdin closes: --exit-with-parent).
Arguments other than --exit-with-parent go to moto_server (-H host, -p port).
It also registers the DocumentDB engine in moto's RDS backend (see register_documentdb) and
fixes moto bugs that would make berth's tests judge the emulator instead of berth (see
fix_moto_bugs).
"""
import os
import sys
import threading


def exit_when_stdin_closes():
    try:
        while sys.stdin.buffer.read(4096):
            pass
    finally:
        os._exit(0)


def register_documentdb():
    """Teach moto's RDS backend the `docdb` engine, which moto 5.2.5 lacks.

    DocumentDB shares RDS's control-plane API (same actions, same endpoint); only the engine
    name is unknown to moto. Defaults as AWS: port 27017, engine version 5.0.0.
    """
    from moto.rds import models, utils

    def extend_list(cls, name):
        original = getattr(cls, name)
        setattr(cls, name, classmethod(lambda c: sorted(set(original()) | {"docdb"})))

    extend_list(utils.ClusterEngine, "list_cluster_engines")
    extend_list(utils.DbInstanceEngine, "valid_db_instance_engine")

    def with_docdb(cls, name, value):
        original = getattr(cls, name)
        setattr(
            cls,
            name,
            staticmethod(lambda engine, *rest, **kw: value if engine == "docdb" else original(engine, *rest, **kw)),
        )

    with_docdb(models.DBCluster, "default_engine_version", "5.0.0")
    with_docdb(models.DBCluster, "default_port", 27017)
    with_docdb(models.DBCluster, "default_allocated_storage", 1)
    with_docdb(models.DBInstance, "default_port", 27017)
    with_docdb(models.DBInstance, "default_allocated_storage", 10)
    models.DBInstance.default_engine_versions["docdb"] = "5.0.0"


def fix_moto_bugs():
    """Make moto behave as AWS where moto 5.2.5 is plainly wrong.

    ModifyDBSubnetGroup: moto pops the group from its registry and never puts it back, so a
    modified subnet group disappears (AWS keeps it, with the new subnets).
    DescribeCapacityProviders: see below.
    RegisterScalableTarget: AWS brings an ECS service's desired count into the new min..max
    ("it changes the resource's current capacity to a value that is inside of this range");
    moto only records the target.
    """
    from moto.rds import models

    original = models.RDSBackend.modify_db_subnet_group

    def modify_db_subnet_group(self, subnet_name, description, subnets):
        group = original(self, subnet_name, description, subnets)
        self.subnet_groups[subnet_name] = group
        return group

    models.RDSBackend.modify_db_subnet_group = modify_db_subnet_group

    # DescribeCapacityProviders without names: AWS describes every provider of the account
    # (paginated); moto fails on the missing list.
    from moto.ecs import models as ecs

    original_describe = ecs.EC2ContainerServiceBackend.describe_capacity_providers

    def describe_capacity_providers(self, names):
        if names is None:
            return list(self.capacity_providers.values()), []
        return original_describe(self, names)

    ecs.EC2ContainerServiceBackend.describe_capacity_providers = describe_capacity_providers

    # RegisterScalableTarget on an ECS service's desired count: AWS moves the count into the
    # target's range at once; moto leaves the service as it was.
    from moto.applicationautoscaling import models as appscaling

    original_register = appscaling.ApplicationAutoscalingBackend.register_scalable_target

    def register_scalable_target(self, namespace, r_id, dimension, *args, **kwargs):
        target = original_register(self, namespace, r_id, dimension, *args, **kwargs)
        if namespace == "ecs" and dimension == "ecs:service:DesiredCount":
            _, cluster, service = r_id.split("/")
            services, _ = self.ecs_backend.describe_services(cluster, [service])
            for found in services:
                low, high = target.min_capacity, target.max_capacity
                if low is not None and found.desired_count < int(low):
                    found.desired_count = int(low)
                if high is not None and found.desired_count > int(high):
                    found.desired_count = int(high)
        return target

    appscaling.ApplicationAutoscalingBackend.register_scalable_target = register_scalable_target


def main():
    args = sys.argv[1:]
    if "--exit-with-parent" in args:
        args.remove("--exit-with-parent")
        threading.Thread(target=exit_when_stdin_closes, daemon=True).start()
    # AWS-managed IAM policy ARNs (ECS task execution role policy, ...) must resolve.
    os.environ.setdefault("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
    register_documentdb()
    fix_moto_bugs()
    from moto.server import main as moto_server

    moto_server(args)


if __name__ == "__main__":
    main()
