{
  "targets": [
    {
      "target_name": "nftables",
      "sources": ["nftables.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"],
      "libraries": ["-ldl"]
    }
  ]
}
