# The one image of the project: gateway, analytics and simulator are subcommands of the CLI
# (TypeScript run through tsx, so no build step).
FROM node:20-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY . .
RUN ln -s /app/bin/usage-gateway.mjs /usr/local/bin/usage-gateway \
 && mkdir -p /data && chown node:node /data

USER node
# Registry, spool and dead-letter store: keep them on a volume (see docs/operations.md).
VOLUME ["/data"]
ENV UG_DATA_DIR=/data
EXPOSE 1883 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.UG_HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "/app/bin/usage-gateway.mjs"]
CMD ["gateway"]
