import pytest

from core.data.splits import (CONTEXT_CLASSES, UNSEEN_ORDER, VOC_CLASSES, all_classes, class_ids,
                              normalize_class_name, unseen_classes)
from core.errors import UserError


def test_class_lists_have_background_first_and_expected_sizes():
    assert len(VOC_CLASSES) == 21 and VOC_CLASSES[0] == "background" and VOC_CLASSES[-1] == "tvmonitor"
    assert len(CONTEXT_CLASSES) == 60 and CONTEXT_CLASSES[0] == "background" and CONTEXT_CLASSES[-1] == "wood"
    assert len(set(CONTEXT_CLASSES)) == 60
    # the 59 Context classes come in alphabetical order
    assert CONTEXT_CLASSES[1:] == sorted(CONTEXT_CLASSES[1:])


def test_voc_unseen_indices_match_the_paper():
    assert class_ids(unseen_classes("voc", 10), VOC_CLASSES) == [10, 14, 1, 18, 8, 20, 19, 5, 9, 16]


def test_splits_are_nested():
    for dataset in ("voc", "context"):
        previous: list[str] = []
        for k in (0, 2, 4, 6, 8, 10):
            names = unseen_classes(dataset, k)
            assert len(names) == k and names[: len(previous)] == previous
            previous = names
        # every unseen name is a class of its dataset
        class_ids(UNSEEN_ORDER[dataset], all_classes(dataset))
    assert unseen_classes("context", 4) == ["cow", "motorbike", "sofa", "cat"]
    assert unseen_classes("Pascal-Context", 2) == ["cow", "motorbike"]


@pytest.mark.parametrize("k", [1, 3, 12, -2, "two", 2.5])
def test_bad_split_size_is_a_user_error(k):
    with pytest.raises(UserError, match="one of"):
        unseen_classes("voc", k)


def test_unknown_dataset_is_a_user_error():
    with pytest.raises(UserError, match="unknown dataset"):
        unseen_classes("coco", 2)


def test_name_normalisation_and_synonyms():
    assert class_ids(["Airplane", "tv", "potted plant", "TV/Monitor", "dining_table"], VOC_CLASSES) == [1, 20, 16, 20, 11]
    assert class_ids(["tv monitor", "AEROPLANE"], CONTEXT_CLASSES) == [55, 1]
    assert normalize_class_name(" Potted_Plant ") == "pottedplant"


def test_unknown_class_name_suggests_close_names():
    with pytest.raises(UserError, match="'sofaa'.*sofa"):
        class_ids(["sofaa"], VOC_CLASSES)
    with pytest.raises(UserError, match="unknown class 'giraffe'"):
        class_ids(["cat", "giraffe"], VOC_CLASSES)
