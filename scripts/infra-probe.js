#!/usr/bin/env node
/* global setTimeout, clearTimeout */
// Readiness probe used by scripts/infra.sh: a real kafkajs admin call or a real CQL query.
// Exit 0 and print a one-line description when the service answers; exit 1 otherwise.
//   infra-probe.js cassandra HOST:PORT [DATACENTER] [PEERS]: the node answers CQL as a node of DATACENTER
//   and knows at least PEERS other nodes (two regions: a keyspace may name only datacenters it knows).
'use strict';
const [service, address, datacenter, minPeers] = process.argv.slice(2);
const TIMEOUT_MS = 5000;

async function probeKafka() {
  const { Kafka, logLevel } = require('kafkajs');
  const kafka = new Kafka({
    clientId: 'infra-probe',
    brokers: [address],
    logLevel: logLevel.NOTHING,
    connectionTimeout: TIMEOUT_MS,
    requestTimeout: TIMEOUT_MS,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const cluster = await admin.describeCluster();
    return `kafka cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s), controller ${cluster.controller}`;
  } finally {
    await admin.disconnect();
  }
}

async function probeCassandra() {
  const cassandra = require('cassandra-driver');
  const [host, port] = address.split(':');
  const client = new cassandra.Client({
    contactPoints: [host],
    protocolOptions: { port: Number(port) },
    localDataCenter: datacenter || process.env.CASSANDRA_LOCAL_DC || 'datacenter1',
    socketOptions: { connectTimeout: TIMEOUT_MS, readTimeout: TIMEOUT_MS },
  });
  try {
    const rs = await client.execute('SELECT release_version, data_center FROM system.local');
    const row = rs.first();
    const peers = await client.execute('SELECT peer, data_center FROM system.peers');
    if (peers.rowLength < Number(minPeers || 0)) throw new Error(`sees ${peers.rowLength} peer(s), not ${minPeers}`);
    const others = peers.rows.map((p) => `${p.peer} (${p.data_center})`).join(', ');
    return `cassandra ${row.release_version}, datacenter ${row.data_center}${others ? `, peers ${others}` : ''}`;
  } finally {
    await client.shutdown();
  }
}

const probes = { kafka: probeKafka, cassandra: probeCassandra };
if (!probes[service] || !address) {
  console.error('usage: infra-probe.js kafka|cassandra host:port [datacenter] [peers]');
  process.exit(2);
}
const timer = setTimeout(() => {
  console.error(`${service}: no answer in ${TIMEOUT_MS * 2} ms`);
  process.exit(1);
}, TIMEOUT_MS * 2);
probes[service]()
  .then((line) => {
    clearTimeout(timer);
    console.log(line);
    process.exit(0);
  })
  .catch((err) => {
    clearTimeout(timer);
    console.error(`${service}: ${err.message}`);
    process.exit(1);
  });
