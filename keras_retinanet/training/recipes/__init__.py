"""The named training recipes of `retinanet-train` (and of `recipes/train_*.py`)."""

from keras_retinanet.training.recipes.coco import COCO_RECIPE
from keras_retinanet.training.recipes.coco_mobile import COCO_MOBILE_RECIPE
from keras_retinanet.training.recipes.custom import CUSTOM_RECIPE
from keras_retinanet.training.recipes.recipe import Recipe
from keras_retinanet.training.recipes.shapes import SHAPES_RECIPE
from keras_retinanet.training.recipes.voc import VOC_RECIPE

RECIPES: dict[str, Recipe] = {
    recipe.name: recipe
    for recipe in (COCO_RECIPE, COCO_MOBILE_RECIPE, VOC_RECIPE, CUSTOM_RECIPE, SHAPES_RECIPE)
}


def get_recipe(name: str) -> Recipe:
    """The recipe called `name`."""
    try:
        return RECIPES[name]
    except KeyError:
        raise ValueError(f"Unknown recipe {name!r}; choose one of {sorted(RECIPES)}.") from None


__all__ = ["RECIPES", "Recipe", "get_recipe"]
