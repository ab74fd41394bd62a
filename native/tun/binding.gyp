{
  "targets": [
    {
      "target_name": "tun",
      "sources": ["tun.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
