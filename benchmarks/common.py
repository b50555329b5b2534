"""What the benchmark scripts share: spreads over repeats and writing a result as JSON plus Markdown."""

import json
import statistics
from pathlib import Path


def summary(values):
    """{'median', 'min', 'max'} of a list of timings or ratios."""
    return {'median': statistics.median(values), 'min': min(values), 'max': max(values)}


def emit(result, table, out=None):
    """Print the Markdown table; with `out`, write the JSON there and the table next to it (.md)."""
    print(table)
    if out:
        Path(out).write_text(json.dumps(result, indent=1) + '\n')
        Path(out).with_suffix('.md').write_text(table)


def timing_arguments(parser, steps):
    """--steps, --repeats, --threads and --out, as every script here takes them."""
    parser.add_argument('--steps', type=int, default=steps, help='timed iterations per repeat')
    parser.add_argument('--repeats', type=int, default=5, help='interleaved repeats')
    parser.add_argument('--threads', type=int, default=1, help='torch threads')
    parser.add_argument('--out', help='JSON file; the Markdown table goes next to it (.md)')
    return parser
