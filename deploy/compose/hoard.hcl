# Shared by the three nodes of docker-compose.yml. A file must name its
# node; each service's --name flag (hoard1, hoard2, hoard3) replaces this
# one, and each node has its own volume at /data.
name = "hoard"

#
# Every listener binds all of the container's interfaces: Docker publishes
# the RPC and HTTP ports on the host's loopback, and peers reach the gossip
# port at the container's IP, which memberlist finds itself (the private
# IP of the container) and the node advertises for RPC and HTTP too.
bind_addr = "0.0.0.0:7946"
rpc_addr  = "0.0.0.0:7373"
http_addr = "0.0.0.0:8080"
data_dir  = "/data"

# "hoard" is a network alias every node of the file carries: Docker's DNS
# answers it with every node's address, and each node joins them all, at
# start and again on every re-join.
join = ["hoard:7946"]

# Flushed counts go to the container's log: docker-compose logs -f.
sink "stdout" "console" {}

counter "pageviews" {
  sink     = "console"
  interval = "5s"
}
