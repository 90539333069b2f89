# shellcheck shell=bash
# bench/serves.sh -- sourced by compare.sh and profile.sh (from the project's
# top folder): which servers have the endpoints of which `wspulse bench` mode.

# Whether server $1 has the endpoints of workload mode $2: every server but
# the TCP floor, which only echoes and ticks, has them all.
serves()
{
    [ "$1" != tcp_echo ] || [ "$2" = echo ] || [ "$2" = ticks ]
}
