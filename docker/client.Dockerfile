# A client machine for compose.yaml: a shell with dig, nothing else.
#   docker compose run --rm hub-client dig mystorage.blob.core.windows.net
FROM alpine:3.20

RUN apk add --no-cache bind-tools=~9.18

# dig needs no privileges; 65534 is "nobody" in Alpine.
USER 65534:65534
CMD ["sh"]
