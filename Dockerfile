# Style-as-a-Service API (embedded default: SQLite, local storage, bundled model).
#   docker build -t style-as-a-service .
#   docker run -p 3000:3000 -v saas-data:/app/data style-as-a-service
# GPU variant: build on an NVIDIA CUDA 12 runtime image that has Node 20 and pass
#   --build-arg ORT_INSTALL=cuda12  (ONNX Runtime then downloads its CUDA execution provider)
# and run with `--gpus all`.
ARG NODE_IMAGE=node:20-bookworm-slim
FROM ${NODE_IMAGE} AS build
ARG ORT_INSTALL=skip
WORKDIR /app
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
# The CPU build ships in the package; the install script only fetches the CUDA binaries, so it runs
# only when asked for (npm 11 skips it through allowScripts, the variable covers older npm).
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci \
 && if [ "${ORT_INSTALL}" != skip ]; then ONNXRUNTIME_NODE_INSTALL=${ORT_INSTALL} node node_modules/onnxruntime-node/script/install; fi
COPY . .
# models/ holds the bundled base model; created empty if absent so the copy below always works.
RUN npm run build && mkdir -p models && npm prune --omit=dev

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=3000 \
    DATA_DIR=/app/data \
    MODELS_DIR=/app/models
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/models ./models
COPY --from=build /app/openapi ./openapi
RUN mkdir -p /app/data && chown -R node:node /app/data
USER node
VOLUME ["/app/data"]
EXPOSE 3000
# Runs the compiled server directly (`npm start` would rebuild first).
CMD ["node", "dist/src/main.js"]
