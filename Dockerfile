# imgsrv: multi-stage build on the current Node LTS, running as a non-root user.
# NODE_IMAGE is the base of both stages: the official node:26-slim by default; CI, which reaches
# no container registry, builds an equivalent one (scripts/container-base.sh) and passes it here.
ARG NODE_IMAGE=node:26-slim

FROM ${NODE_IMAGE} AS build
# A compiler for the native addons (native/sendfile, native/sha256), in this stage only. node-gyp builds against
# the headers the Node image ships in /usr/local/include/node instead of downloading them.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
ENV npm_config_nodedir=/usr/local
WORKDIR /app
COPY package.json package-lock.json ./
COPY cli/package.json ./cli/
COPY scripts/install-node-deps.sh scripts/build-native.sh ./scripts/
# npm install's postinstall builds the addon.
COPY native ./native
RUN bash scripts/install-node-deps.sh
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
COPY cli ./cli
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    IMGSRV_LISTEN=0.0.0.0:8080 \
    IMGSRV_TLS_LISTEN=0.0.0.0:8443 \
    IMGSRV_METRICS_LISTEN=0.0.0.0:9464 \
    IMGSRV_DATA_DIR=/var/lib/imgsrv
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/cli/package.json ./cli/
COPY --from=build /app/cli/bin ./cli/bin
COPY --from=build /app/cli/dist ./cli/dist
COPY --from=build /app/native/sendfile/build/Release/*.node ./native/sendfile/build/Release/
COPY --from=build /app/native/sha256/build/Release/*.node ./native/sha256/build/Release/
COPY migrations ./migrations
COPY bin ./bin
# The operator CLI too: `docker run --entrypoint imgsrv … push …`.
RUN ln -s /app/bin/imgsrv.js /usr/local/bin/imgsrv \
 && mkdir -p /var/lib/imgsrv && chown node:node /var/lib/imgsrv
USER node
VOLUME ["/var/lib/imgsrv"]
EXPOSE 8080 8443 9464
# Liveness on the plain HTTP listener's port, wherever IMGSRV_LISTEN puts it.
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "const p=(process.env.IMGSRV_LISTEN||':8080').split(':').pop();fetch('http://127.0.0.1:'+p+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "dist/main.js"]
CMD ["serve"]
