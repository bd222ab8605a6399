{
  "targets": [
    {
      "target_name": "sendfile",
      "sources": ["sendfile.c"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"],
      "cflags": ["-std=gnu11", "-Wall", "-Wextra"]
    }
  ]
}
