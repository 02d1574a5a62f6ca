import { describe, expect, it } from 'vitest';
import { bool, int, oneOf, UsageError } from '../../src/index.ts';
import { resolveParams } from '../../src/core/params.ts';

const specs = { cpus: int(2, { min: 1, max: 3 }), rt: bool(false), variant: oneOf(['upstream', 'buggy'], 'upstream') };

describe('--param resolution', () => {
  it('defaults, then assignments over them', () => {
    expect(resolveParams(specs, [], 'm')).toEqual({ cpus: 2, rt: false, variant: 'upstream' });
    expect(resolveParams(specs, ['cpus=3', 'rt=true', 'variant=buggy'], 'm')).toEqual({ cpus: 3, rt: true, variant: 'buggy' });
  });

  it('rejects what is not valid, listing what is', () => {
    expect(() => resolveParams(specs, ['cpu=2'], 'm')).toThrow(new UsageError('unknown parameter "cpu" for model "m"; available: cpus=integer in 1..3, rt=true|false, variant=upstream|buggy'));
    expect(() => resolveParams(specs, ['rt=yes'], 'm')).toThrow('bad value "yes" for parameter "rt": not a boolean (valid: true|false)');
    expect(() => resolveParams(specs, ['cpus=0'], 'm')).toThrow('must be at least 1');
    expect(() => resolveParams(specs, ['cpus=1.5'], 'm')).toThrow('not an integer');
  });
});
