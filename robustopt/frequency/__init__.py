"""Frequency analysis of images and models (Ma, Pan & Farahmand, TMLR 2023, arXiv:2308.06703).

* :mod:`~robustopt.frequency.bases` -- centred FFT and orthonormal DCT, radii of frequencies.
* :mod:`~robustopt.frequency.masks` -- equal-count radial bands, the authors' bands, bands from radii,
  low/high-pass masks.
* :mod:`~robustopt.frequency.noise` -- band-limited Gaussian noise.
* :mod:`~robustopt.frequency.filters` -- remove high-frequency / low-energy content from training data.
* :mod:`~robustopt.frequency.heatmap` -- Fourier heat maps (Yin et al., 2019).
"""

from robustopt.frequency.bases import (
    BASES,
    dct2,
    dct_matrix,
    from_frequency,
    idct2,
    radius,
    squared_radius,
    to_frequency,
)
from robustopt.frequency.filters import FILTERS, apply_filter, remove_high_frequency, remove_low_energy
from robustopt.frequency.heatmap import fourier_basis_image, fourier_heatmap, heatmap_figure, heatmap_frequencies
from robustopt.frequency.masks import (
    PAPER_DCT32_EDGES,
    PAPER_DCT_RADII,
    Bands,
    band_masks,
    bands_from_edges,
    high_pass_mask,
    is_hermitian_symmetric,
    low_pass_mask,
    paper_bands,
    radial_mask,
)
from robustopt.frequency.noise import band_limited_noise, project_onto_band

__all__ = [
    "BASES",
    "Bands",
    "FILTERS",
    "PAPER_DCT32_EDGES",
    "PAPER_DCT_RADII",
    "apply_filter",
    "band_limited_noise",
    "band_masks",
    "bands_from_edges",
    "dct2",
    "dct_matrix",
    "fourier_basis_image",
    "fourier_heatmap",
    "from_frequency",
    "heatmap_figure",
    "heatmap_frequencies",
    "high_pass_mask",
    "idct2",
    "is_hermitian_symmetric",
    "low_pass_mask",
    "paper_bands",
    "project_onto_band",
    "radial_mask",
    "radius",
    "remove_high_frequency",
    "remove_low_energy",
    "squared_radius",
    "to_frequency",
]
