# The shoal node image: one image for managers and workers (a worker that is
# promoted becomes a manager in place, so a node's image must hold both), with
# swarmctl for `docker exec` and shoal-node as entrypoint and health probe.
# Build it with `deploy/build-images.sh --node`; FROM scratch, so offline.
#
#   docker run ... shoal/node manager [FLAGS]   init, join or run a manager (see shoal-node)
#   docker run ... shoal/node worker [FLAGS]    join or run a worker
#
# The node runs as uid/gid 65532, not root. It drives the Docker daemon
# through its socket, so run it with the socket mounted and the socket's
# group added (docker run --group-add "$(stat -c %g /var/run/docker.sock)",
# compose: group_add). That group is root-equivalent on the host: running
# as non-root only keeps a compromised node from the rest of its own
# container (the data dir and its keys excepted), not from the host.
FROM scratch
# /tmp (1777) and /var/lib, owned by root; the binaries, owned by root.
COPY skel/ /
COPY bin/ /usr/local/bin/
# The data dir /var/lib/shoal: owned by the node's user, mode 0700. Docker
# copies owner and mode into an empty named volume mounted on it.
COPY --chown=65532:65532 data/ /var/lib/
ENV PATH=/usr/local/bin \
    SHOAL_DATA_DIR=/var/lib/shoal \
    SWARM_HOST=unix:///var/lib/shoal/swarm.sock
USER 65532:65532
WORKDIR /var/lib/shoal
VOLUME /var/lib/shoal
# cluster port (Raft, CA, dispatcher: TLS), gossip
EXPOSE 2377/tcp 7946/tcp 7946/udp
# Managers: the API socket answers /_ping. Workers: joined, certificate
# valid, a manager answers over mutual TLS. The role is read from the data
# dir at each probe, so a promoted worker is probed as a manager.
HEALTHCHECK --interval=5s --timeout=5s --start-period=60s --retries=3 CMD ["shoal-node", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["shoal-node", "start"]
CMD ["manager"]
