cmd_Release/sha256.node := ln -f "Release/obj.target/sha256.node" "Release/sha256.node" 2>/dev/null || (rm -rf "Release/sha256.node" && cp -af "Release/obj.target/sha256.node" "Release/sha256.node")
