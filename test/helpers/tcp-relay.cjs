// A TCP relay: node tcp-relay.cjs <listen host> <listen port> <target host> <target port>. Prints
// "relaying" once listening. Used inside network namespaces, where the test's oidc-provider (bound to the
// host's 127.0.0.1, since loginkit allows plain http only on loopback) is reached through the veth link.
'use strict';
const net = require('node:net');
const [listenHost, listenPort, targetHost, targetPort] = process.argv.slice(2);
const server = net.createServer((inbound) => {
  const outbound = net.connect(Number(targetPort), targetHost);
  inbound.pipe(outbound).pipe(inbound);
  const close = () => {
    inbound.destroy();
    outbound.destroy();
  };
  inbound.on('error', close);
  outbound.on('error', close);
});
server.listen(Number(listenPort), listenHost, () => process.stdout.write('relaying\n'));
