{
  "targets": [
    {
      "target_name": "splice_relay",
      "sources": ["splice_relay.c"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-pthread"],
      "ldflags": ["-pthread"]
    }
  ]
}
