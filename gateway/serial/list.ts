import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SerialPort } from 'serialport';
import { UsageGatewayError } from '../../protocol/errors.ts';

export interface PortInfo {
  path: string;
  manufacturer?: string;
  serialNumber?: string;
  vendorId?: string;
  productId?: string;
  pnpId?: string;
}

function onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((dir) => {
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The serial ports present (serialport's list). On Linux serialport asks udevadm; without it
 * the library fails with a bare spawn error, so that case is told apart in plain words.
 */
export async function listPorts(): Promise<PortInfo[]> {
  if (process.platform === 'linux' && !onPath('udevadm')) {
    throw new UsageGatewayError('GW_ERR_SERIAL_LIST_UNAVAILABLE', 'listing serial ports needs udevadm, which is not installed (Debian/Ubuntu: apt-get install udev); a port can still be given by name with --port, e.g. /dev/ttyUSB0 or /dev/serial/by-id/…');
  }
  try {
    const ports = await SerialPort.list();
    return ports.map((p) => ({ path: p.path, manufacturer: p.manufacturer, serialNumber: p.serialNumber, vendorId: p.vendorId, productId: p.productId, pnpId: p.pnpId }));
  } catch (err) {
    throw new UsageGatewayError('GW_ERR_SERIAL_LIST_UNAVAILABLE', `cannot list serial ports: ${(err as Error).message}`);
  }
}
