"""The built-in data sets; importing this package registers them in :data:`robustopt.data.registry.DATASETS`.

Each module reads one real on-disk format into (images uint8 (N, C, H, W), labels int64 (N,)):

- ``mnist``, ``fashion_mnist`` (1x28x28, 10 classes): ``<root>/{MNIST,FashionMNIST}/raw/`` IDX files, or the
  Debian package ``dataset-fashion-mnist`` (:mod:`.mnist`);
- ``cifar10`` / ``cifar100`` (3x32x32, 10 / 100): ``<root>/cifar-10-batches-py/``, ``<root>/cifar-100-python/``
  pickles (:mod:`.cifar`);
- ``svhn`` (3x32x32, 10): ``<root>/svhn/{train,test}_32x32.mat`` (:mod:`.svhn`);
- ``caltech101`` (3x224x224, 101): ``<root>/caltech101/101_ObjectCategories/<class>/``, seeded 80/20 split per
  class, and ``imagenette`` (3x224x224, 10): ``<root>/imagenette2/{train,val}/<wnid>/`` (:mod:`.imagefolder`);
- ``synthetic`` (1x16x16, 4): generated in memory, for tests (:mod:`.synthetic`).
"""

from robustopt.data.sets import cifar, imagefolder, mnist, svhn, synthetic

__all__ = ["cifar", "imagefolder", "mnist", "svhn", "synthetic"]
