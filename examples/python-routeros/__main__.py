"""Seeds 000/001 done right, in Python: NTH balancing with per-user persistence on RouterOS.

The same gateway as examples/routeros-nth-sticky (TypeScript) and examples/yaml-routeros (YAML):

    pulumi config set routerHost 192.0.2.1
    pulumi config set --secret routerPassword ...
    pulumi up
"""
import pulumi
import pulumi_lbgw as lbgw

config = pulumi.Config()


def int_or(key: str, default: int) -> int:
    value = config.get_int(key)
    return default if value is None else value


gateway = lbgw.LoadBalancedGateway(
    "office",
    target=lbgw.TargetArgs(
        routeros=lbgw.RouterOsTargetArgs(
            host=config.require("routerHost"),
            port=config.get_int("routerPort"),
            username=config.get("routerUser") or "admin",
            password=config.require_secret("routerPassword"),
            # None leaves an argument out: the provider applies its default (version 7, port 8728)
            version=config.get_int("rosVersion"),
        )
    ),
    lan=lbgw.LanArgs(interfaces=["Local"], networks=["192.168.0.0/24"]),
    links=[
        lbgw.LinkArgs(
            name="wlan1",
            interface="wlan1",
            gateway="10.112.0.1",
            weight=int_or("wlan1Weight", 1),
            check=lbgw.CheckArgs(targets=["198.51.100.1"]),
        ),
        lbgw.LinkArgs(
            name="wlan2",
            interface="wlan2",
            gateway="10.111.0.1",
            # seed 000 pins the source address instead of masquerading
            nat=lbgw.SourceNatArgs(src_nat="10.111.0.2"),
            check=lbgw.CheckArgs(targets=["198.51.100.2"]),
        ),
    ],
    strategy="nth",
    sticky=lbgw.StickyArgs(timeout="1d"),
    # seed 001: the router's own traffic leaves by wlan1, wlan2 when it is down
    router_traffic="wlan1",
)

pulumi.export("device", gateway.device)
pulumi.export("ownedEntries", gateway.owned_entries)
