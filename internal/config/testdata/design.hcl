name      = "n1"
bind_addr = "127.0.0.1:7946"   # gossip, TCP+UDP
rpc_addr  = "127.0.0.1:7373"   # msgpack TCP for clients and peers
http_addr = "127.0.0.1:8080"   # health, metrics, status page ("" disables)
join      = ["127.0.0.1:7947"]
data_dir  = "./data/n1"

sink "file" "out" { path = "./data/n1/out.jsonl" }

counter "pageviews" {
  sink        = "out"
  interval    = "5s"
  jitter      = "1s"
  retry_max   = 5
  retry_delay = "1s"
}
buffer "events" {
  sink     = "out"
  interval = "5s"
  max_size = 1000
}
cache "users" {
  loader "http" { url = "http://127.0.0.1:9000/users/{key}" }
  refresh_interval = "15m"
  ttl              = "1h"
}
