{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["tun.c", "fastpath.c", "coalesce.c", "uring.c", "loop.c"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-pthread"],
      "ldflags": ["-pthread"]
    }
  ]
}
