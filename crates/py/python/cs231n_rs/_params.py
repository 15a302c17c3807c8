"""Reading the course's parameter dicts (``conv_param``, ``pool_param``, ``bn_param``,
...) into the plain values the native module takes, with a ``ValueError`` for a
missing key or a value of the wrong kind."""

import numbers


def get(params, key, name, default=None, required=True):
    """``params[key]``, or ``default`` when absent and not required."""
    try:
        return params[key]
    except KeyError:
        if required:
            raise ValueError(f"{name} has no {key!r}") from None
        return default
    except TypeError:
        raise ValueError(f"{name} must be a dict, got {type(params).__name__}") from None


def whole(params, key, name, default=None, required=True):
    """``params[key]`` as an int; 2.0 is 2, but 1.5, "2" or True are errors."""
    value = get(params, key, name, default, required)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or value != int(value):
        raise ValueError(f"{name}[{key!r}] must be a whole number, got {value!r}")
    return int(value)


def real(params, key, name, default=None, required=True):
    """``params[key]`` as a float."""
    value = get(params, key, name, default, required)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name}[{key!r}] must be a number, got {value!r}")
    return float(value)


def mode(params, name, layer):
    """``params['mode']`` as ``train`` = True / ``test`` = False, worded as the course's
    error: 'Invalid forward batchnorm mode "val"'."""
    m = get(params, "mode", name)
    if m not in ("train", "test"):
        raise ValueError(f'Invalid forward {layer} mode "{m}"')
    return m == "train"


def conv(conv_param):
    """(stride, pad) of ``conv_param``."""
    return whole(conv_param, "stride", "conv_param"), whole(conv_param, "pad", "conv_param")


def pool(pool_param):
    """(pool_height, pool_width, stride) of ``pool_param``."""
    return tuple(whole(pool_param, k, "pool_param") for k in ("pool_height", "pool_width", "stride"))
